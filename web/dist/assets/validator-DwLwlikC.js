import{b2 as i}from"./index-CjLkBAbI.js";const n=o=>["",...i].includes(o);export{n as i};
